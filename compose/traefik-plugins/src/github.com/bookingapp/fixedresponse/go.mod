module github.com/bookingapp/fixedresponse

go 1.22
